#include "http/session/notifier.h"
