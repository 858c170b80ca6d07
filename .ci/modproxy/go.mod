// modproxy serves this repository's modules as a file:// GOPROXY, so CI can
// build every module outside the workspace. It is a module of its own, kept out
// of go.work and out of every released module's zip.
module modproxy

go 1.26.0

require golang.org/x/mod v0.43.0
