"""The tamper-evident trace ledger: canonical JSON, entries, RFC 9162 Merkle tree, checkpoints,
exports. Pure library: storage reaches it through protocols, never a database driver."""
