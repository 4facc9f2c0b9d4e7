"""sftscope: does long chain-of-thought SFT generalize — across domains, over training, and at what safety cost?"""

__version__ = "0.1.0"
