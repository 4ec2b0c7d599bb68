"""Built-in data sets (offline: scikit-learn's bundled sets, synthetic and random data) and the
few tables shipped with hessrmt."""
