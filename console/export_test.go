package console

// AppendBalance is appendBalance, for the test that holds it to
// json.Marshal.
var AppendBalance = appendBalance
