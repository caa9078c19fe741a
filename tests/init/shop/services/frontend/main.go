package main // the storefront
