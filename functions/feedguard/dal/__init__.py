"""The data-access layer: all persistence goes through these modules."""
