"""Applications over the core: file and video I/O around the tensor-in/tensor-out models.

The model packages (``degplug.udm``, ``degplug.ndr``, ...) take and return tensors; the modules
here read image folders and video files, skip and name unreadable inputs, and write results.
"""
