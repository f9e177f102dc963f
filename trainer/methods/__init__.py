"""One recipe per built-in method. Each has DATA (the record shape) and build(job) -> a TRL trainer."""
