"""HL7 v2 (ER7) input: cut files and streams into messages, parse each into an Outcome, build ACKs."""
