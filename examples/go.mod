module github.com/avstudio/credits/examples

go 1.26

require github.com/avstudio/credits v0.0.0

replace github.com/avstudio/credits => ..
