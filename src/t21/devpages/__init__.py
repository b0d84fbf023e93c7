"""Development pages: the front-end routes T21's emails and redirects link to, served by the API
itself outside production so that every browser flow can be finished without a front end."""
