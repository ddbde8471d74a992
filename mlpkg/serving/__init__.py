"""HTTP prediction service (FastAPI): ``create_app`` in ``mlpkg.serving.app``; see docs/api.md."""
