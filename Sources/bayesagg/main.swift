print("bayesagg")
