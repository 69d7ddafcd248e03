"""Code the contract app's functions share. It has no function.json, so it is not a function."""
