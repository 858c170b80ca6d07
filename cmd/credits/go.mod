module github.com/avstudio/credits/cmd/credits

go 1.26

require (
	github.com/avstudio/credits v0.0.0
	github.com/google/go-cmp v0.7.0
)

require github.com/shopspring/decimal v1.4.0 // indirect

replace github.com/avstudio/credits => ../..
