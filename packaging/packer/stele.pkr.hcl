# SPDX-License-Identifier: Apache-2.0
# Bakes stele into a Debian 12 AMI and seals the image as the last step.
#
#   packaging/deb/build-deb          # build-deb/out/stele_0.1.0_amd64.deb
#   packer init packaging/packer
#   packer build -var image_version=42 \
#       -var deb=build-deb/out/stele_0.1.0_amd64.deb \
#       -var trust_pub=pipeline.key.pub -var signing_key=pipeline.key \
#       packaging/packer/stele.pkr.hcl
#
# The signing key: stele seal signs with a PEM key file (an external signer
# command for a KMS or HSM is not built yet, which would be the better choice:
# the key would never leave the signer). So the key is uploaded straight to
# /run/stele-seal, a directory on the tmpfs /run: it never reaches the EBS
# volume the AMI is made from, /run is excluded from every seal, and the key
# is shredded as soon as the seal is written (and /run is gone anyway when
# the build instance stops for the snapshot). The build instance must be trusted with
# the key while it runs; a pipeline that cannot accept that seals instead
# from outside: attach a snapshot of the volume to a signing host and run
# `stele seal` on its mount, then register the AMI from that snapshot.

packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "image_name" {
  type        = string
  default     = "web"
  description = "The image's name in its manifest and in the AMI name."
}

variable "image_version" {
  type        = string
  description = "The image's version (a number) in its manifest."
}

variable "deb" {
  type        = string
  description = "The stele package built by packaging/deb/build-deb."
}

variable "trust_pub" {
  type        = string
  description = "The pipeline's public key, installed into the image's trust store."
}

variable "signing_key" {
  type        = string
  sensitive   = true
  description = "The pipeline's private key (PEM) that signs the manifest."
}

variable "agent_conf" {
  type        = string
  default     = "init/agent.conf"
  description = "The image's /etc/stele/agent.conf."
}

variable "expires" {
  type    = string
  default = "90d"
}

source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "admin"
  ami_name      = "${var.image_name}-${var.image_version}-{{timestamp}}"

  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = {
    Name          = "${var.image_name}-${var.image_version}"
    stele_name    = var.image_name
    stele_version = var.image_version
  }
}

build {
  sources = ["source.amazon-ebs.debian12"]

  provisioner "file" {
    source      = var.deb
    destination = "/tmp/stele.deb"
  }

  provisioner "file" {
    source      = var.trust_pub
    destination = "/tmp/stele-pipeline.pub"
  }

  provisioner "file" {
    source      = var.agent_conf
    destination = "/tmp/stele-agent.conf"
  }

  provisioner "file" {
    source      = "init/cloud/90-stele.cfg"
    destination = "/tmp/90-stele.cfg"
  }

  # Install the package (its guards let apt through: the build instance is
  # not sealed, /run/stele/image does not exist), the trust key, the image's
  # agent.conf and the cloud-init drop-in.
  provisioner "shell" {
    execute_command = "sudo sh -eux '{{ .Path }}'"
    inline = [
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get update -q",
      "apt-get install -y -q --no-install-recommends /tmp/stele.deb",
      "install -m 0644 /tmp/stele-pipeline.pub /etc/stele/trusted.d/pipeline.pub",
      "install -m 0644 /tmp/stele-agent.conf /etc/stele/agent.conf",
      "install -m 0644 /tmp/90-stele.cfg /etc/cloud/cloud.cfg.d/90-stele.cfg",
      "rm -f /tmp/stele.deb /tmp/stele-pipeline.pub /tmp/stele-agent.conf /tmp/90-stele.cfg",
      "systemctl is-enabled stele-agent.service",
    ]
  }

  # Anything else the image needs goes here, before the seal.

  # Forget this build instance, so every instance's first boot is cloud-init's
  # first boot (what it then writes is covered by the cloud profile).
  provisioner "shell" {
    execute_command = "sudo sh -eux '{{ .Path }}'"
    inline = [
      "cloud-init clean --logs --machine-id",
      "rm -f /etc/ssh/ssh_host_*",
      "install -d -m 0700 -o \"$SUDO_USER\" /run/stele-seal",
    ]
  }

  # Straight to the tmpfs: /tmp is on the root volume.
  provisioner "file" {
    source      = var.signing_key
    destination = "/run/stele-seal/key"
  }

  # LAST: seal the root filesystem. Nothing may change the tree after this.
  # /boot/efi is the EFI system partition, another filesystem: not sealed.
  provisioner "shell" {
    execute_command = "sudo sh -eu '{{ .Path }}'"
    inline = [
      "trap 'shred -u /run/stele-seal/key 2>/dev/null; rm -rf /run/stele-seal' EXIT",
      "chown root:root /run/stele-seal /run/stele-seal/key && chmod 0600 /run/stele-seal/key",
      "stele seal --profile cloud --key /run/stele-seal/key --name ${var.image_name} --version ${var.image_version} --expires ${var.expires} --exclude /boot/efi --exclude /etc/stele/manifest.dsse --out /etc/stele/manifest.dsse /",
      "shred -u /run/stele-seal/key",
      "stele verify --manifest /etc/stele/manifest.dsse --trust /etc/stele/trusted.d /",
      "stele inspect /etc/stele/manifest.dsse",
    ]
  }
}
