package main // payments gRPC server
