"""What training and the service share: the artifact format, the eval preprocessing, explainers, rendering."""
