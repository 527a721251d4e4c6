package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// topicTest is a topic registered by this test file only: it checks that a
// registered key is read from the file and the environment, validated, and no
// longer reported as ignored.
type topicTest struct {
	Level int
	Name  string
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			t := Ext[topicTest](c)
			t.Level = 3 // default
			return []Key{{"rotor_topic_test.level", &t.Level}, {"rotor_topic_test.name", &t.Name}}
		},
		Validate: func(c *ServerConfig) error {
			if Ext[topicTest](c).Level < 0 {
				return errors.New("rotor_topic_test.level: must not be negative")
			}
			return nil
		},
	})
}

func TestTopicRegister(t *testing.T) {
	t.Parallel()
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := Ext[topicTest](c); got.Level != 3 || got.Name != "" {
		t.Fatalf("defaults: %+v", got)
	}
	path := writeFile(t, "c.json", `{"rotor_topic_test":{"level":"7"}}`)
	c, err = Load(path, []string{"CENTRIFUGO_ROTOR_TOPIC_TEST_NAME=x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := Ext[topicTest](c); got.Level != 7 || got.Name != "x" {
		t.Fatalf("loaded: %+v", got)
	}
	if len(c.Ignored) != 0 {
		t.Fatalf("ignored: %v", c.Ignored)
	}
	if _, err := Load(writeFile(t, "c.json", `{"rotor_topic_test":{"level":-1}}`), nil); err == nil || !strings.Contains(err.Error(), "rotor_topic_test.level") {
		t.Fatalf("validate: %v", err)
	}
	if !slices.Contains(KeyPaths(), "rotor_topic_test.name") {
		t.Fatal("KeyPaths misses a registered key")
	}
}
