"""CDS Hooks 2.0: itpwatch\x27s conclusions as cards in the patient\x27s chart in the EHR (docs/ehr.md)."""
