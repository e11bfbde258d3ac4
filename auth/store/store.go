// Package store keeps users in MongoDB. The email is unique in the
// collection (a unique index), so concurrent sign-ups cannot duplicate it.
package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/mongodb"
)

// ErrEmailInUse is returned by Create when another user has the email.
var ErrEmailInUse = errors.New("email in use")

// User is a stored user. Email is already normalised (trimmed, lower-case).
type User struct {
	ID           bson.ObjectID `bson:"_id"`
	Email        string        `bson:"email"`
	PasswordHash string        `bson:"passwordHash"`
	CreatedAt    time.Time     `bson:"createdAt"`
}

// Users is the users collection.
type Users struct {
	coll *mongo.Collection
}

// NewUsers returns the store over db's users collection.
func NewUsers(db *mongo.Database) *Users {
	return &Users{coll: db.Collection("users")}
}

// EnsureIndexes creates the unique index on email.
func (u *Users) EnsureIndexes(ctx context.Context) error {
	_, err := u.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetName("email_unique").SetUnique(true),
	})
	return err
}

// Create stores a new user, or returns ErrEmailInUse.
func (u *Users) Create(ctx context.Context, email, passwordHash string) (User, error) {
	user := User{
		ID:           bson.NewObjectID(),
		Email:        email,
		PasswordHash: passwordHash,
		CreatedAt:    time.Now().UTC(),
	}
	if _, err := u.coll.InsertOne(ctx, user); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return User{}, ErrEmailInUse
		}
		return User{}, mongodb.Classify(err)
	}
	return user, nil
}

// ByEmail finds the user with the (normalised) email; found is false when
// there is none.
func (u *Users) ByEmail(ctx context.Context, email string) (user User, found bool, err error) {
	err = u.coll.FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&user)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return User{}, false, nil
	case err != nil:
		return User{}, false, mongodb.Classify(err)
	}
	return user, true, nil
}
