"""FHIR R4 JSON input, validated with fhir.resources.R4B (never the R5 package root)."""
