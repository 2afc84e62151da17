"""The pure domain core: values and instrument precision, orders and their state machine, client order
ids, event schemas and the journal hash chain. No I/O and no imports from tradeops' outer rings."""
