"""The pure decision core: typed requests and facts in, a frozen Decision out; no I/O."""
