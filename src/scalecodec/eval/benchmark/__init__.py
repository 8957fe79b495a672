"""`scc bench`: rate-distortion, speed and memory of scalecodec and the
established codecs, each through its real encoder and decoder, on any folder
of images; plus JPEG 2000's scalable modes, the anchors of the scalable
layers."""
