module github.com/avstudio/credits/cmd/credits

go 1.26

require github.com/avstudio/credits v0.0.0

replace github.com/avstudio/credits => ../..
