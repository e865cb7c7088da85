"""zoomhard: would the classifier get this image right if it looked at the right part of it?"""

__version__ = "0.1.0"
