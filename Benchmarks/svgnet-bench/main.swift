import Kernels
print("svgnet-bench: not yet")
