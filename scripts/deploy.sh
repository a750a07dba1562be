#!/usr/bin/env bash
# Build and push the function image, then create or update the stack.
#
#   scripts/deploy.sh --stack NAME --source-bucket BUCKET [--arch arm64|x86_64]
#                     [--region REGION] [--alarm-email ADDR] [--allow-dirty]
#                     [--parameter Key=Value ...]
#
# Needs the AWS CLI v2, Docker with buildx (only when the image is not in ECR
# yet), and credentials allowed to use ECR and CloudFormation. Runs under bash
# 3.2 (macOS). Safe to run twice on the same commit: the repository's tags are
# immutable, so an image already pushed is not built again. The stack gets the
# image by digest. Tags are <commit>-<arch>; a tree with uncommitted changes is
# refused, or with --allow-dirty tagged <commit>-dirty-<hash of the changes>-<arch>.
# Prints the stack
# outputs at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "deploy: $*" >&2; exit 1; }

STACK="" SOURCE_BUCKET="" ARCH=arm64 REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" ALARM_EMAIL=""
ALLOW_DIRTY=false
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --source-bucket) SOURCE_BUCKET=$2; shift 2 ;;
    --arch) ARCH=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --alarm-email) ALARM_EMAIL=$2; shift 2 ;;
    --allow-dirty) ALLOW_DIRTY=true; shift ;;
    --parameter) EXTRA+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$STACK" ] || die "--stack is required"
[ -n "$SOURCE_BUCKET" ] || die "--source-bucket is required"
case "$ARCH" in arm64|x86_64) ;; *) die "--arch must be arm64 or x86_64" ;; esac

command -v aws >/dev/null || die "the AWS CLI v2 is not installed (https://docs.aws.amazon.com/cli/)"
command -v git >/dev/null || die "git is needed to name the image after the commit"
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null) || die "not a git checkout: the image is named after the commit"
if [ -n "$(git status --porcelain)" ]; then
  [ "$ALLOW_DIRTY" = true ] \
    || die "the tree has uncommitted changes; commit them, or pass --allow-dirty to deploy them under a tag of their own"
  # The changes themselves name the tag: the same dirty tree gets the same tag.
  CHANGES=$( (git diff HEAD; git status --porcelain) | git hash-object --stdin | cut -c1-12)
  TAG="$COMMIT-dirty-$CHANGES-$ARCH"
else
  TAG="$COMMIT-$ARCH"
fi
# The tag names the architecture: the same commit built for the other one is
# another image, never the one already pushed (tags are immutable).

ACCOUNT=$(aws sts get-caller-identity --query Account --output text 2>/dev/null) \
  || die "no AWS credentials: configure a profile or export AWS_PROFILE / AWS_ACCESS_KEY_ID"
[ -n "$REGION" ] || REGION=$(aws configure get region || true)
[ -n "$REGION" ] || die "no region: pass --region or set AWS_REGION"

REPO=author-stats-batch
REGISTRY="$ACCOUNT.dkr.ecr.$REGION.amazonaws.com"
IMAGE="$REGISTRY/$REPO:$TAG"

if ! aws ecr describe-repositories --region "$REGION" --repository-names "$REPO" >/dev/null 2>&1; then
  echo "creating ECR repository $REPO"
  aws ecr create-repository --region "$REGION" --repository-name "$REPO" \
    --image-scanning-configuration scanOnPush=true --image-tag-mutability IMMUTABLE >/dev/null
fi

# The digest of the image tagged $TAG, empty when there is none.
digest_of() {
  aws ecr describe-images --region "$REGION" --repository-name "$REPO" \
    --image-ids "imageTag=$1" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true
}

DIGEST=$(digest_of "$TAG")
case "$DIGEST" in
  sha256:*)
    echo "image $IMAGE is already in ECR ($DIGEST): not building it again (tags are immutable)" ;;
  *)
    command -v docker >/dev/null || die "docker is not installed"
    docker info >/dev/null 2>&1 || die "docker is installed but no Docker engine answers"
    docker buildx version >/dev/null 2>&1 || die "docker buildx is needed to build for $ARCH"
    aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
    if [ "$ARCH" = arm64 ]; then platform=linux/arm64; else platform=linux/amd64; fi
    echo "building $IMAGE for $platform"
    # Lambda needs a single-platform image manifest: no provenance attestation.
    docker buildx build --platform "$platform" --provenance=false \
      --build-arg TARGET_ARCH="$ARCH" -t "$IMAGE" --push .
    DIGEST=$(digest_of "$TAG")
    case "$DIGEST" in
      sha256:*) ;;
      *) die "pushed $IMAGE but ECR reports no digest for it" ;;
    esac ;;
esac

params=(
  "SourceBucketName=$SOURCE_BUCKET"
  "ImageUri=$REGISTRY/$REPO@$DIGEST"
  "Architecture=$ARCH"
)
if [ -n "$ALARM_EMAIL" ]; then
  params+=("AlarmEmail=$ALARM_EMAIL")
fi
# bash 3.2 with set -u calls an empty array unbound: expand it only when set.
params+=(${EXTRA[@]+"${EXTRA[@]}"})

echo "deploying stack $STACK with $REGISTRY/$REPO@$DIGEST (tag $TAG)"
aws cloudformation deploy --region "$REGION" --stack-name "$STACK" \
  --template-file cloudformation/author-stats-batch.yaml \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "${params[@]}"

aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
