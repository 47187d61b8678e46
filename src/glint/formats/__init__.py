"""Disk image format inspection: pure code fed the upload's blocks as they pass.

`detect.Detection` runs every inspector over one stream in a single pass;
`verdict.judge` decides, as Glance 33 does, whether the data may be stored
under the image's `disk_format` and what its virtual size is.
"""
