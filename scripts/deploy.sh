#!/usr/bin/env bash
# Build and push the function image, then create or update the stack.
#
#   scripts/deploy.sh --stack NAME --source-bucket BUCKET [--arch arm64|x86_64]
#                     [--region REGION] [--tag TAG] [--alarm-email ADDR]
#                     [--parameter Key=Value ...]
#
# Needs the AWS CLI v2, Docker with buildx, and credentials allowed to use ECR
# and CloudFormation. Prints the stack outputs at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "deploy: $*" >&2; exit 1; }

STACK="" SOURCE_BUCKET="" ARCH=arm64 REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" TAG="" ALARM_EMAIL=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --source-bucket) SOURCE_BUCKET=$2; shift 2 ;;
    --arch) ARCH=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --alarm-email) ALARM_EMAIL=$2; shift 2 ;;
    --parameter) EXTRA+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$STACK" ] || die "--stack is required"
[ -n "$SOURCE_BUCKET" ] || die "--source-bucket is required"
case "$ARCH" in arm64|x86_64) ;; *) die "--arch must be arm64 or x86_64" ;; esac

command -v aws >/dev/null || die "the AWS CLI v2 is not installed (https://docs.aws.amazon.com/cli/)"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "docker is installed but no Docker engine answers"
docker buildx version >/dev/null 2>&1 || die "docker buildx is needed to build for $ARCH"
ACCOUNT=$(aws sts get-caller-identity --query Account --output text 2>/dev/null) \
  || die "no AWS credentials: configure a profile or export AWS_PROFILE / AWS_ACCESS_KEY_ID"
[ -n "$REGION" ] || REGION=$(aws configure get region || true)
[ -n "$REGION" ] || die "no region: pass --region or set AWS_REGION"
TAG=${TAG:-$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}

REPO=author-stats-batch
REGISTRY="$ACCOUNT.dkr.ecr.$REGION.amazonaws.com"
IMAGE="$REGISTRY/$REPO:$TAG"

if ! aws ecr describe-repositories --region "$REGION" --repository-names "$REPO" >/dev/null 2>&1; then
  echo "creating ECR repository $REPO"
  aws ecr create-repository --region "$REGION" --repository-name "$REPO" \
    --image-scanning-configuration scanOnPush=true --image-tag-mutability IMMUTABLE >/dev/null
fi
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"

platform="linux/$( [ "$ARCH" = arm64 ] && echo arm64 || echo amd64 )"
echo "building $IMAGE for $platform"
# Lambda needs a single-platform image manifest: no provenance attestation.
docker buildx build --platform "$platform" --provenance=false \
  --build-arg TARGET_ARCH="$ARCH" -t "$IMAGE" --push .

params=(
  "SourceBucketName=$SOURCE_BUCKET"
  "ImageUri=$IMAGE"
  "Architecture=$ARCH"
)
[ -n "$ALARM_EMAIL" ] && params+=("AlarmEmail=$ALARM_EMAIL")
params+=("${EXTRA[@]}")

echo "deploying stack $STACK"
aws cloudformation deploy --region "$REGION" --stack-name "$STACK" \
  --template-file cloudformation/author-stats-batch.yaml \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "${params[@]}"

aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
