"""The processor service: an OTLP receiver that prices, stores and answers queries."""
