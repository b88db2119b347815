"""Side-by-side benchmarks of lrpoll and the pollers users would pick instead."""
