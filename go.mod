module tracewatch

go 1.26
