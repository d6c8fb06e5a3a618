"""Stage 2, bytes to hashes: sniffing the type from magic bytes, decoding images and videos under
budgets, border trimming, and `hash_media`, which computes every signal of one object."""
