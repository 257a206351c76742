"""HTTP APIs other than the web pages: the FHIR facade and the pieces the CDS Hooks service shares with it."""
