"""The HTTP service: the app, its middleware and admission, routes, schemas, problem details and API docs."""
