print("cepd")
