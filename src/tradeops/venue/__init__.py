"""The ccxt adapter: exchanges built on the unmodified ccxt classes, pointed at a venue or the simulator."""
