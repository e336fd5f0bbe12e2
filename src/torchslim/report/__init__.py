"""Reports built from the results store: markdown tables now; charts, HTML and recommendations later."""
