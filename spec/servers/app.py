#!/usr/bin/python3
"""The Flask fixture application for lurl's specs and scripts.

Run by spec/helper.lua under Debian's gunicorn with the gthread worker:

    gunicorn --chdir spec/servers -k gthread -w 1 --threads 128 app:app

One worker process on purpose: the request recorder of app_api.py keeps
its state in memory, and every request must land in the same recorder.
Many threads so that a test can hold dozens of requests open at once
(concurrency limits are measured by what the server has in flight).

Blueprints:
  app_api    (always)  /api/...: pagination, item details, slow endpoint,
                        request recorder (see app_api.py)
  app_login  (optional) written separately; registered when importable, so
                        the app starts fine without it
"""

import flask

from app_api import bp as api_bp


def create_app():
    app = flask.Flask(__name__)
    app.register_blueprint(api_bp)
    try:
        from app_login import bp as login_bp
    except ImportError as e:
        # only a missing app_login module is tolerated: a broken one
        # (syntax error, failing import inside it) must stop the server
        if getattr(e, "name", None) != "app_login":
            raise
    else:
        app.register_blueprint(login_bp)
    return app


app = create_app()


if __name__ == "__main__":
    import sys
    app.run("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5000, threaded=True)
