# The optional extras tools/setup.sh installs and tools/lock.sh locks (pyproject.toml
# [project.optional-dependencies]): one list, so the lock covers exactly what is installed.
EXTRAS=${EXTRAS:-dev,lm,onnx,lhotse,serve}
