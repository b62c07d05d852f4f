"""The hardware an emulated machine is made of: the preset (topology, clock, costs),
CPU numbering, cache coherence, SMT and the TLB."""
