// codec.go - makes Debian's grpc-go 1.33 able to carry the mvm.v1 messages.
//
// That grpc-go marshals with github.com/golang/protobuf 1.3, which only
// knows messages made by the old protoc-gen-go; the stubs here come from
// protoc-gen-go 1.28 (google.golang.org/protobuf). Importing this package
// replaces the "proto" codec with one that uses google.golang.org/protobuf
// for such messages and falls back to the old library for the rest (grpc's
// own health and reflection messages).
package client

import (
	"fmt"

	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
)

type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case proto.Message:
		return proto.Marshal(m)
	case protov1.Message:
		return protov1.Marshal(m)
	}
	return nil, fmt.Errorf("codec: %T is not a protobuf message", v)
}

func (codec) Unmarshal(data []byte, v interface{}) error {
	switch m := v.(type) {
	case proto.Message:
		return proto.Unmarshal(data, m)
	case protov1.Message:
		return protov1.Unmarshal(data, m)
	}
	return fmt.Errorf("codec: %T is not a protobuf message", v)
}

func init() { encoding.RegisterCodec(codec{}) }
