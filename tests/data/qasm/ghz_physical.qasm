// GHZ state on physical qubits $0..$2.
OPENQASM 3.0;
include "stdgates.inc";
h $0;
cx $0, $1;
cx $1, $2;
