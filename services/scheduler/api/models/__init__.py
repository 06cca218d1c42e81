"""The request and response bodies of the control API; the OpenAPI document is generated from them."""
