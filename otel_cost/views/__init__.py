"""Views of the spend: the ``otel-cost top`` terminal dashboard and the menubar."""
