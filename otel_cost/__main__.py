from otel_cost.cli.main import main

main()
