package sqlite

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Bodies are stored zstd-compressed: FHIR JSON of a couple of kilobytes shrinks to about a third, which
// is most of the disk a version takes (docs/PERFORMANCE.md). A stored body is either a zstd frame (it
// starts with the zstd magic number) or, as written by earlier versions, the JSON itself (it starts with
// '{'); reads accept both.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func newCodec() (*codec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return nil, fmt.Errorf("sqlite: zstd decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec}, nil
}

// pack returns the stored form of a body (nil stays nil).
func (c *codec) pack(body []byte) []byte {
	if body == nil {
		return nil
	}
	return c.enc.EncodeAll(body, make([]byte, 0, len(body)/2))
}

// unpack returns the JSON of a stored body.
func (c *codec) unpack(stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return stored, nil
	}
	out, err := c.dec.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: decompress a stored body: %w", err)
	}
	return out, nil
}

func (c *codec) close() {
	if c == nil {
		return
	}
	_ = c.enc.Close()
	c.dec.Close()
}
