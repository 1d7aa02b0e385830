import matplotlib

# Unit tests draw off-screen. Set here (not through MPLBACKEND) so that notebook kernels started by nbval and by
# the browser test keep Jupyter's inline backend and render figures as a learner sees them.
matplotlib.use("Agg")
